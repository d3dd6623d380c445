"""The self-hosted web app: dashboards, imports, users and the REST API over one workspace."""
