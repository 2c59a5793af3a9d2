// PanicSim
