"""The workspace's pages, one module per audience: auth (everyone), agent, lead, admin."""
