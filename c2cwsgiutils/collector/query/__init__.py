"""Reading records: the filter language (:mod:`.language`), its compilation to SQL
(:mod:`.filters`), the timeline buckets and the request view."""
