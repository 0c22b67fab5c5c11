"""Ingestion: sources -> plan -> parse -> validate -> set-based writes; the refresher; the data overview."""
