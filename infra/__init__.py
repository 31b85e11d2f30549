"""Infrastructure the services stand on: extensions, Redis, the transaction's after-commit
queue, background jobs, and the WeChat and WeChat Pay clients built from configuration.
Nothing here imports services, handlers or the app factory."""
