-- The lock wait each check of the data batch may spend (milliseconds): the batch shares one statement timeout.
SELECT set_config('lock_timeout', %(ms)s, false)
