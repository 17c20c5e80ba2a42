"""The collector's HTTP side: the Pyramid application, its endpoints, the OpenAPI document, auth,
the web UI (``static/``), the ingest port, the servers' body readers and the admission of work."""
