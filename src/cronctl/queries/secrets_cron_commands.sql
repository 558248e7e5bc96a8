-- Commands of the pg_cron jobs this role can see, read once per connection only to learn the credential literals
-- written into them (a Bearer token, an apikey) so that they are masked in every form; never returned to a command.
SELECT command FROM cron.job LIMIT 10000
