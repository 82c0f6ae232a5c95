"""The conversation log: database and migrations, the store, staff labels, PII redaction."""
