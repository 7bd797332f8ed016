"""Running Karmo in production: probes, metrics, request logs, task-worker liveness, routing."""
