"""A team's shared servers: PostgreSQL for Prefect and MLflow, their servers, and the settings that
point the pipeline at them. Credentials come from the environment or a git-ignored .env only."""
