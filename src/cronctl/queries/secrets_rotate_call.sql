SELECT {function}(%(key)s::text, %(value)s::text)
