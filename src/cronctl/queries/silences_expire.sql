-- Expired silences vanish: every write removes the rows past their expiry.
DELETE FROM cronctl.silences WHERE until <= %(now)s
