"""Builder pages of the workflows app: the editor, versions, test runs and runs."""
