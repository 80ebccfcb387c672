from twisted.application.service import ServiceMaker

bareos_dir = ServiceMaker(
    "bareos-dir", "bareos.director.tap", "Bareos director (consoles, jobs, catalog)", "bareos-dir")
