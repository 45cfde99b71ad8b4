template = "other.hcl" # ERROR: Templates cannot reference other templates

pipeline "shared" { # ERROR: Pipeline block in a template
}

defaults {
  runtime {}
  runtime {} # ERROR: A defaults block has at most one runtime block; the first one is on line 7
  sink "test" {}
  sink "test" {} # ERROR: The defaults for the sink plugin "test" are already given on line 9
  sink "other" {}
  filter "test" {} # ERROR: A filter block cannot be shared through a template
  objects {} # ERROR: The objects block cannot be shared through a template
  checkpiont {} # ERROR: Unsupported block type
  tags = ["x"] # ERROR: Unsupported argument
}

defaults { # ERROR: Duplicate defaults block
}
