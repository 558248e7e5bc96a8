"""Pure evaluation: no I/O, only records in and judgements out."""
