"""The application layer the command line and the Prefect flows share: the step registry and the
checks a driver makes before it runs a step (params, folders, dvc.yaml)."""
