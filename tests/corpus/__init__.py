"""The incident corpus: realistic database states of the five seed systems with the verdict a correct triage
must give (issue 11 item 10, DESIGN.md §5). `builder` writes states, `systems` knows each seed's tables and jobs,
`incidents` holds the incidents; tests/system/test_corpus.py runs them."""
