"""Renders over Ray: ``ray_tasks`` (the one module that imports Ray, inside its functions: start or join it, tasks
with retries), ``split`` (a clip in frame ranges, each rendered by its method, joined)."""
