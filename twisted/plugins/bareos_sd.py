from twisted.application.service import ServiceMaker

bareos_sd = ServiceMaker(
    "bareos-sd", "bareos.storagedaemon.tap", "Bareos storage daemon (writes and reads volumes)", "bareos-sd")
