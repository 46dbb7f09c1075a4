from flask_appbuilder import IndexView


class HomeView(IndexView):
    index_template = "crm/index.html"
