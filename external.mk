# thunderbox adds no Buildroot packages (see Config.in).
