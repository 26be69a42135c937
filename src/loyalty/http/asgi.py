"""The ASGI application uvicorn imports (`loyalty serve`); the database comes from LOYALTY_DATABASE_URL."""

from loyalty.http.app import configure_logging, create_app

configure_logging()
app = create_app()
