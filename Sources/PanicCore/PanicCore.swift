// PanicCore
