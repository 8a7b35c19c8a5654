"""Django-aware plumbing below every app: settings-keyed sealing and pseudonyms, thread pools, API plumbing."""
