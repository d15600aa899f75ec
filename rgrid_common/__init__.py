"""Small pieces shared by the CLI, the API and the flows: errors, limits, statuses."""
