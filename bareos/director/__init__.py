"""The director: console server, jobs, scheduler, links to file and storage daemons."""
