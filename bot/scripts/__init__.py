"""The script library (话术): four-eyes review, suitability, ranking and the delivery log."""
