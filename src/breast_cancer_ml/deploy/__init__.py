"""Deployment helpers the CD workflow calls: ``bcml deploy ecs|beanstalk|bundle``.

They need the ``aws`` extra (boto3): ``pip install 'breast-cancer-ml[aws]'``.
"""
