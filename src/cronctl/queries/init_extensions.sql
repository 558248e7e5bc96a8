-- The installed extensions: an unqualified http_post() is pgsql-http's only when the http extension is here.
SELECT extname FROM pg_extension
