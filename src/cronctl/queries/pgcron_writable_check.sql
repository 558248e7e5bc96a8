-- Before any change: is the transaction read-only, who is this role, and is it a superuser.
SELECT current_setting('transaction_read_only') = 'on', current_user,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
