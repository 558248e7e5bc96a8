UPDATE {table} SET {value} = %(value)s{updated_set} WHERE {key} = %(key)s
