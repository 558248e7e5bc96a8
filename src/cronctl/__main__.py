from cronctl.cli.main import main

main()
