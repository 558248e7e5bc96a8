COMMENT ON TABLE cronctl.silences IS 'cronctl silence: acknowledged job problems until an expiry (written by cronctl silence; expired rows are deleted by the next write)'
