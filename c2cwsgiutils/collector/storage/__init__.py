"""Where records live: the storage interface and its backends (:mod:`.backends`), the table
(:mod:`.schema`) and its alembic migrations, WAL checkpoints, retention and the read deadline."""
