"""The ticket dispenser (番号発券機): issues numbered queue tickets, online or offline."""
