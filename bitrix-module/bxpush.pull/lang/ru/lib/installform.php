<?php
$MESS['BXPUSH_PULL_INSTALLFORM_BAD_URL'] = 'Поле #FIELD#: введите полный адрес #SCHEMES#, например #EXAMPLE#';
$MESS['BXPUSH_PULL_INSTALLFORM_PUBLISH_DOMAIN'] = 'Адрес публикации PHP использует как есть (#DOMAIN# в нём не заменяется): укажите адрес, на котором слушает bxpush serve --listen-pub, например #EXAMPLE#';
$MESS['BXPUSH_PULL_INSTALLFORM_BAD_ALGO'] = 'Алгоритм подписи: выберите sha1 или sha256 (тот же, что в bxpush serve --signature-algo).';
