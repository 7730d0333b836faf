"""Email rules as plain functions over plain data: threading, loops and bounces."""
