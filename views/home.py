from flask_appbuilder import IndexView, expose

from views.task import my_open_tasks


class HomeView(IndexView):
    index_template = "crm/index.html"

    @expose("/")
    def index(self):
        self.update_redirect()
        return self.render_template(self.index_template, appbuilder=self.appbuilder,
                                    my_tasks=my_open_tasks())
