pipeline "p" {
  source "test" {
    name = "s"
  }
  serializer "test" {
    name = "x"
  }
  sink "test" {
    name = "k"
  }
  objects {
    table "shop" { # ERROR: Invalid table name
    }
    table "shop.orders" {
      topic   = "orders"
      where   = "`status` <> 'draft' AND AND `amount` > 0" # ERROR: Invalid row filter
      columns = ["id", "status", "ID"] # ERROR: listed twice
    }
    table "SHOP.Orders" { # ERROR: Duplicate table
    }
    table "shop.*" { # ERROR: wildcards belong in rules
    }
    table "shop.items" {
      topic            = "${db}_${tabel}" # ERROR: Unknown template variable
      sharding_columns = [] # ERROR: Empty sharding_columns
      colums           = ["a"] # ERROR: Did you mean "columns"?
    }
    rule "shop.order_item_*" {
      topic = "${db}_${table}"
    }
    rule "shop.order_item_*" { # ERROR: Duplicate rule
    }
    rule "shop.a.b" { # ERROR: more than one '.'
    }
    rule "shop.x_*" {
      topic = "${upper(table)}" # ERROR: functions cannot be applied
    }
    rule "shop.y_*" {
      topic = "$${schema}" # ERROR: unknown template variable ${schema}
    }
    exclude = ["shop.*_bak", "shop.orders", # ERROR: both listed and excluded
    "nodot"] # ERROR: Invalid exclude pattern
  }
}
