"""Alignment: targets against actuals, linkage of work to outcomes, the mission map."""
