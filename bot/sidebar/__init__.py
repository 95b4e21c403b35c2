"""The chat-toolbar sidebar (聊天工具栏): the customer card beside a customer chat."""
