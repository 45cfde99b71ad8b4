# A template may be empty.
