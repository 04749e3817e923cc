"""The HTTP face of authgate: a FastAPI app built by create_app(settings)."""
