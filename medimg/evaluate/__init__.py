"""Clinical evaluation: metric reports with intervals, plot data, figures and the model card."""
