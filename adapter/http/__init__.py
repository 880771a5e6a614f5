"""HTTP edge: Flask app factory and blueprints."""
