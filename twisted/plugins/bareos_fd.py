from twisted.application.service import ServiceMaker

bareos_fd = ServiceMaker(
    "bareos-fd", "bareos.filedaemon.tap", "Bareos file daemon (backs up and restores this machine)", "bareos-fd")
