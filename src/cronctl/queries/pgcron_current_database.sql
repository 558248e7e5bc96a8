-- The database this session is connected to (a job runs in the database cron.job names).
SELECT current_database()
