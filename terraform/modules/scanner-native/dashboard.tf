# ---------------------------------------------------------------- dashboard

# Dashboard: the templates' DashboardBody. dashboard.json.tftpl is generated with it from one list of
# widgets (cloudformation/render.py, `make templates`); these variables are its ${...} names.
resource "aws_cloudwatch_dashboard" "scanner" {
  # Dashboards are global to the account: the region in the name keeps one per regional instance.
  dashboard_name = "${var.name}-${local.region}"
  dashboard_body = templatefile("${path.module}/dashboard.json.tftpl", {
    region            = local.region
    function_name     = aws_lambda_function.scanner.function_name
    scan_queue        = aws_sqs_queue.scan.name
    inventory_queue   = aws_sqs_queue.inventory.name
    dead_letter_queue = aws_sqs_queue.dead_letter.name
  })
}
