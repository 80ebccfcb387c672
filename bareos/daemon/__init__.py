"""What the three daemons share: command-line options, listening, peer authentication."""
