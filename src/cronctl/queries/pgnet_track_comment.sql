-- What was installed, with which retention (read back by `pgcron track status`).
COMMENT ON TABLE cronctl.pgnet_request_log IS %(comment)s
